// bio-set-dev (4.14): a bio's device is set with bio_set_dev().
@@
struct bio *bio;
expression bdev;
@@
- bio->bi_bdev = bdev;
+ bio_set_dev(bio, bdev);
