// map-info-end-io (3.8): the end_io callback lost its union map_info argument.
@target@
identifier tt, fn;
@@
 struct target_type tt = { .end_io = fn, };

@depends on target@
identifier target.fn, ti, bio, error, info;
@@
 fn(struct dm_target *ti, struct bio *bio, int error
-   , union map_info *info
   )
 { ... }
