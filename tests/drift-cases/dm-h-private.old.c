#include <linux/module.h>
#include "dm.h" /* drift */

#define DM_MSG_PREFIX "tally"
