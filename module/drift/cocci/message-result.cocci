// message-result (4.17): the message callback gained result and maxlen to
// answer the caller.
@target@
identifier tt, fn;
@@
 struct target_type tt = { .message = fn, };

@depends on target@
identifier target.fn, ti, argc, argv;
type T;
@@
 int fn(struct dm_target *ti, T argc, char **argv
+       , char *result, unsigned int maxlen
   )
 { ... }
