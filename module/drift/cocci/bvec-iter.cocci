// bvec-iter (3.14): bi_sector, bi_size and bi_idx moved into bio->bi_iter.
@@
struct bio *bio;
@@
(
- bio->bi_sector
+ bio->bi_iter.bi_sector
|
- bio->bi_size
+ bio->bi_iter.bi_size
|
- bio->bi_idx
+ bio->bi_iter.bi_idx
)
