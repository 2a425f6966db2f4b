// dm-h-private: "dm.h" is the core's private header; a target includes
// <linux/device-mapper.h>.
@@
@@
- #include "dm.h"
+ #include <linux/device-mapper.h>
