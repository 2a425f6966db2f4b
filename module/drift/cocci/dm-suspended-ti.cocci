// dm-suspended-ti (2.6.33): dm_suspended() takes the target.
@@
struct dm_target *ti;
@@
- dm_suspended(dm_table_get_md(ti->table))
+ dm_suspended(ti)

@@
struct dm_target *ti;
identifier md;
@@
 struct mapped_device *md = dm_table_get_md(ti->table);
 <...
- dm_suspended(md)
+ dm_suspended(ti)
 ...>
