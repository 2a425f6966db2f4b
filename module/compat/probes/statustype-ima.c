// SPDX-License-Identifier: GPL-2.0
/* Probe for drift entry statustype-ima: can status be asked for STATUSTYPE_IMA? */
#include <linux/device-mapper.h>

int dmw_probe(status_type_t type);
int dmw_probe(status_type_t type)
{
	return type == STATUSTYPE_IMA;
}
