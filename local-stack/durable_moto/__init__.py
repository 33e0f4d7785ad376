"""moto's server as `./dev up` runs it: a local AWS that holds a real catalog and keeps it.

moto on its own keeps every S3 object's bytes in memory (about 2.4 GB per 1,000 photos of
1-5 MB) and forgets everything when its process dies. This package runs the same server with
these changes, each in a module of its own:

- `bodies`: an S3 object's bytes live in a file under the state folder, read when the object
  is read; moto's memory holds only the object's metadata, which `lean` trims (moto never
  frees a model instance on its own).
- `objects`: every request that changes objects writes, before it is answered, a record of
  each object it changed (its versions' metadata and tags, naming their body files). A moto
  killed at any moment comes back with every object it had acknowledged.
- `snapshots`: the rest (buckets' settings, queues and their messages, the bus's rules) is
  saved a second after it changes, and everything (the DynamoDB tables too) at a clean stop.
  What a crash can lose is therefore a second of queue messages and the read model's items;
  `./dev up` brings both back from the event store (`catalog rebuild`, and the outbox
  republished from before the snapshot), so nothing the catalog acknowledged is lost.

    python -m durable_moto --port 4566 --state .local/state/moto
"""
