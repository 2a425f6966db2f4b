static unsigned int tally_max_vecs(void)
{
	return BIO_MAX_PAGES; /* drift */
}
