static struct block_device *tally_bdev(struct bio *bio)
{
	return bio->bi_bdev; /* drift */
}
