// end-io-status (4.13): end_io takes a blk_status_t *error it may read and
// rewrite, and returns DM_ENDIO_DONE where it used to pass the error on.
// ANCHOR: patch
@target@
identifier tt, fn;
@@
 struct target_type tt = { .end_io = fn, };

@callback depends on target@
identifier target.fn, ti, bio, error;
@@
 int fn(struct dm_target *ti, struct bio *bio,
-       int error
+       blk_status_t *error
   )
 { ... }

@depends on callback@
identifier target.fn, callback.error;
@@
 fn(...)
 {
 <...
(
- return error;
+ return DM_ENDIO_DONE;
|
- error
+ blk_status_to_errno(*error)
)
 ...>
 }
// ANCHOR_END: patch
