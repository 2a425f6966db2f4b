// map-errno (4.13): map returns DM_MAPIO_KILL to fail a bio, not an errno.
@target@
identifier tt, fn;
@@
 struct target_type tt = { .map = fn, };

@depends on target@
identifier target.fn;
identifier C =~ "^E[A-Z0-9]+$";
@@
 fn(...)
 {
 <...
- return -C;
+ return DM_MAPIO_KILL;
 ...>
 }
