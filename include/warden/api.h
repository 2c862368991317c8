/* warden/api.h -- the mark on warden's public functions: exported from
 * libwarden.so, whose other symbols are all hidden.  Every public header
 * includes it; define WD_API before including one to override it. */
#ifndef WARDEN_API_H
#define WARDEN_API_H

#ifndef WD_API
#define WD_API __attribute__((visibility("default")))
#endif

#endif /* WARDEN_API_H */
