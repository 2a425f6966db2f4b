// dm-io-unsup (7.2): dm_io() takes sync_unsup_bits before the priority, and
// a notify callback (an io_notify_fn, `void f(unsigned long, void *)`, in a
// file with a struct dm_io_request) gets the unsupported regions second;
// the target's own calls of it pass none.
@@
expression req, num, where, bits, prio;
@@
- dm_io(req, num, where, bits, prio)
+ dm_io(req, num, where, bits, NULL, prio)

@io_request@
identifier r;
@@
 struct dm_io_request r;

@callback depends on io_request@
identifier fn, error, context;
@@
 void fn(unsigned long error,
+        unsigned long unsup,
         void *context)
 { ... }

@depends on callback@
identifier callback.fn;
expression error, context;
@@
- fn(error, context)
+ fn(error, 0, context)
