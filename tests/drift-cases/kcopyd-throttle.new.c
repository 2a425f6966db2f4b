DECLARE_DM_KCOPYD_THROTTLE_WITH_MODULE_PARM(tally_copy_throttle,
	"A percentage of time allocated for copying");

static int tally_copier(struct tally_c *tc)
{
	tc->copier = dm_kcopyd_client_create(&dm_kcopyd_throttle); /* drift */
	return PTR_ERR_OR_ZERO(tc->copier);
}
