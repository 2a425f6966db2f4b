// bio-endio-error (4.3): bio_endio() lost its error argument; the error
// travels in the bio (bi_error until 4.13: see blk-status).
@@
expression bio, error;
@@
(
- bio_endio(bio, -EIO);
+ bio_io_error(bio);
|
- bio_endio(bio, 0);
+ bio_endio(bio);
|
- bio_endio(bio, error);
+ bio->bi_error = error;
+ bio_endio(bio);
)
