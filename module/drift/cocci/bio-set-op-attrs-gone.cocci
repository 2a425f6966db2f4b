// bio-set-op-attrs-gone (6.12): bio_set_op_attrs() is gone; set bi_opf.
@@
expression bio, op, flags;
@@
- bio_set_op_attrs(bio, op, flags);
+ bio->bi_opf = op | flags;
