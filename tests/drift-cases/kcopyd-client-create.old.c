static int tally_copier(struct tally_c *tc)
{
	return dm_kcopyd_client_create(TALLY_COPY_PAGES, /* drift */
				       &tc->copier);
}
