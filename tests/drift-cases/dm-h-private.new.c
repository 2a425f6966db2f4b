#include <linux/module.h>
#include <linux/device-mapper.h>

#define DM_MSG_PREFIX "tally"
