/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dmw_compat.h - the few device-mapper API changes the workbook's stages
 * meet between Linux 5.10 and today.
 *
 * Each guard below names the release that made the change, so a reader can
 * look it up in the kernel's history. A stage includes this header after
 * <linux/device-mapper.h> and then writes its code for the newest kernel.
 *
 * (checkpatch.pl warns about LINUX_VERSION_CODE: in-tree code has no use
 * for it, but an out-of-tree module built for many kernels does.)
 */
#ifndef DMW_COMPAT_H
#define DMW_COMPAT_H

#include <linux/version.h>
#include <linux/device-mapper.h>

/* ANCHOR: statustype_ima */
/*
 * STATUSTYPE_IMA: the core asks each target for a key=value summary of its
 * table line, to measure it with IMA. DMW_HAVE_STATUSTYPE_IMA says whether a
 * status function can be asked for it.
 */
/* Linux 5.15: STATUSTYPE_IMA joins STATUSTYPE_INFO and STATUSTYPE_TABLE. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 15, 0)
#define DMW_HAVE_STATUSTYPE_IMA 1
#else
#define DMW_HAVE_STATUSTYPE_IMA 0
#endif
/* ANCHOR_END: statustype_ima */

#endif /* DMW_COMPAT_H */
