/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Debian ships no libmount.a, yet static GIO references libmount from gunixmounts.c, which the
 * agent never uses. These stubs satisfy the static link of cocoon-agent only; every call fails.
 */
#include "config.h"

#include <stddef.h>

#include <libmount/libmount.h>

struct libmnt_table *
mnt_new_table(void)
{
	return NULL;
}

void
mnt_free_table(struct libmnt_table *tb)
{
}

int
mnt_table_parse_mtab(struct libmnt_table *tb, const char *filename)
{
	return -1;
}

int
mnt_table_parse_fstab(struct libmnt_table *tb, const char *filename)
{
	return -1;
}

struct libmnt_iter *
mnt_new_iter(int direction)
{
	return NULL;
}

void
mnt_free_iter(struct libmnt_iter *itr)
{
}

int
mnt_table_next_fs(struct libmnt_table *tb, struct libmnt_iter *itr, struct libmnt_fs **fs)
{
	return 1;
}

const char *
mnt_fs_get_source(struct libmnt_fs *fs)
{
	return NULL;
}

const char *
mnt_fs_get_target(struct libmnt_fs *fs)
{
	return NULL;
}

const char *
mnt_fs_get_fstype(struct libmnt_fs *fs)
{
	return NULL;
}

const char *
mnt_fs_get_options(struct libmnt_fs *fs)
{
	return NULL;
}

const char *
mnt_fs_get_root(struct libmnt_fs *fs)
{
	return NULL;
}

char *
mnt_fs_strdup_options(struct libmnt_fs *fs)
{
	return NULL;
}

const struct libmnt_optmap *
mnt_get_builtin_optmap(int id)
{
	return NULL;
}

const char *
mnt_get_fstab_path(void)
{
	return "/etc/fstab";
}

int
mnt_has_regular_mtab(const char **mtab, int *writable)
{
	return 0;
}

int
mnt_optstr_get_flags(const char *optstr, unsigned long *flags, const struct libmnt_optmap *map)
{
	return -1;
}
