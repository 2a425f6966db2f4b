// blk-status (4.13): bio->bi_error (an errno) became bio->bi_status (a
// blk_status_t).
@@
struct bio *bio;
expression error;
@@
(
- bio->bi_error = error
+ bio->bi_status = errno_to_blk_status(error)
|
- bio->bi_error
+ blk_status_to_errno(bio->bi_status)
)
