static int tally_copier(struct tally_c *tc)
{
	tc->copier = dm_kcopyd_client_create(); /* drift */
	return PTR_ERR_OR_ZERO(tc->copier);
}
