// submit-bio-noacct (5.9): generic_make_request() was renamed
// submit_bio_noacct().
@@
expression bio;
@@
- generic_make_request(bio)
+ submit_bio_noacct(bio)
