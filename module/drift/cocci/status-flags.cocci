// status-flags (3.6): the status callback gained unsigned status_flags.
@target@
identifier tt, fn;
@@
 struct target_type tt = { .status = fn, };

@depends on target@
identifier target.fn, ti, type, result, maxlen;
type T, R;
@@
 R fn(struct dm_target *ti, status_type_t type,
+     unsigned int status_flags,
      char *result, T maxlen)
 { ... }
