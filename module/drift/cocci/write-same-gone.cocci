// write-same-gone (5.18): WRITE SAME support was removed: no bio is a
// REQ_OP_WRITE_SAME any more.
@@
struct dm_target *ti;
expression E;
@@
- ti->num_write_same_bios = E;

@@
expression op;
@@
(
- op == REQ_OP_WRITE_SAME
+ false
|
- op != REQ_OP_WRITE_SAME
+ true
)
