"""partnersync's application: the store, the mirror, the write-back, the services, and the
faces that call them (the command line now; the HTTP API and the queue's actors later)."""
