// flush-requests-to-bios (3.9): num_flush_requests became num_flush_bios,
// num_discard_requests num_discard_bios.
@@
struct dm_target *ti;
@@
(
- ti->num_flush_requests
+ ti->num_flush_bios
|
- ti->num_discard_requests
+ ti->num_discard_bios
)
