/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "cocoon-fs.h"

#include <sys/stat.h>
#include <unistd.h>

void
cocoon_remove_tree(const gchar *path)
{
	g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
	const gchar *name;

	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *child = g_build_filename(path, name, NULL);
		struct stat st;

		if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
			cocoon_remove_tree(child);
		else
			(void)unlink(child);
	}
	(void)rmdir(path);
}
