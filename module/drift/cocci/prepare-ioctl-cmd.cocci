// prepare-ioctl-cmd (6.16): prepare_ioctl also gets the ioctl's cmd and arg
// and a bool *forward.
@target@
identifier tt, fn;
@@
 struct target_type tt = { .prepare_ioctl = fn, };

@depends on target@
identifier target.fn, ti, bdev;
@@
 int fn(struct dm_target *ti, struct block_device **bdev
+       , unsigned int cmd, unsigned long arg, bool *forward
   )
 { ... }
