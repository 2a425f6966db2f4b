static struct gendisk *tally_disk(struct bio *bio)
{
	return bio->bi_disk; /* drift */
}
