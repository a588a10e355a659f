"""Moving events out of the process: bounded queue, batching worker, disk spool."""
