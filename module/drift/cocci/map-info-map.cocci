// map-info-map (3.8): the map callback lost its union map_info argument.
@target@
identifier tt, fn;
@@
 struct target_type tt = { .map = fn, };

@depends on target@
identifier target.fn, ti, bio, info;
@@
 fn(struct dm_target *ti, struct bio *bio
-   , union map_info *info
   )
 { ... }
