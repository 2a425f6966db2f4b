// per-io-data-size (4.6): ti->per_bio_data_size was renamed per_io_data_size.
@@
struct dm_target *ti;
@@
- ti->per_bio_data_size
+ ti->per_io_data_size
