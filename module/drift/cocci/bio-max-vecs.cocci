// bio-max-vecs (5.12): BIO_MAX_PAGES was renamed BIO_MAX_VECS.
@@
@@
- BIO_MAX_PAGES
+ BIO_MAX_VECS
