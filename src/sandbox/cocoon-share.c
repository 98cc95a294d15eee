/* SPDX-License-Identifier: Apache-2.0 */
#define G_LOG_DOMAIN "cocoon-share"

#include "config.h"

#include "cocoon-share.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "cocoon-error.h"
#include "cocoon-fd.h"
#include "cocoon-fs.h"
#include "cocoon-rootfs.h"

/*
 * the share is a small tmpfs of its own: what the guest writes next to the mounts is bounded and
 * goes with one detach, and mounts attached in it never propagate to the host's peers
 */
#define SHARE_TMPFS_SIZE   "1m"
#define SHARE_TMPFS_INODES "4096"

/*
 * the pod's volumes, <share>/.volumes/<n>: a name no container id can take (containerd's ids
 * begin with a letter or a digit)
 */
#define SHARE_VOLUMES_DIR COCOON_SHARE_VOLUMES_DIR

struct _CocoonShare {
	gchar *path;
	int fd;		     /* the share's tmpfs, attached before the guest could write */
	int volumes_fd;	     /* O_PATH of <share>/.volumes, -1 until the first volume */
	GHashTable *volumes; /* gchar *key (share_volume_key()) -> ShareVolume *, owned */
	guint next_volume;
};

/* one copy of a host volume that every container of the pod naming it uses */
typedef struct {
	gchar *key;
	gchar *name; /* <n> in <share>/.volumes/<n> */
	int mount_fd;
	guint refs; /* the areas that use it */
} ShareVolume;

struct _CocoonShareArea {
	CocoonShare *share; /* weak: the share outlives its areas */
	gchar *id;
	int fd;		    /* O_PATH of <share>/<id> */
	GArray *mounts;	    /* int: the tree fds that name the mounts made, in mount order */
	GPtrArray *volumes; /* gchar *: the keys of the pod's volumes it holds a reference on */
};

static void
share_volume_free(ShareVolume *volume)
{
	if (volume == NULL)
		return;
	cocoon_fd_closep(&volume->mount_fd);
	g_free(volume->key);
	g_free(volume->name);
	g_free(volume);
}

/* the share's tmpfs as a detached mount; -1 with errno ENOSYS without the new mount API */
static int
share_tmpfs_new(GError **error)
{
	struct mount_attr private_attr = {.propagation = MS_PRIVATE};
	cocoon_autofd int fs = -1;
	int mount_fd;

	if (cocoon_fs_get_force_walk()) {
		errno = ENOSYS;
		return -1;
	}
	fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
	if (fs < 0 && errno == ENOSYS)
		return -1;
	if (fs < 0 || fsconfig(fs, FSCONFIG_SET_STRING, "size", SHARE_TMPFS_SIZE, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "nr_inodes", SHARE_TMPFS_INODES, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0700", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		cocoon_set_error_from_errno(error, "tmpfs");
		errno = EINVAL;
		return -1;
	}
	mount_fd = fsmount(fs, FSMOUNT_CLOEXEC,
			   MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
	if (mount_fd < 0 ||
	    mount_setattr(mount_fd, "", AT_EMPTY_PATH, &private_attr, sizeof(private_attr)) < 0) {
		cocoon_set_error_from_errno(error, "tmpfs");
		if (mount_fd >= 0)
			close(mount_fd);
		errno = EINVAL;
		return -1;
	}
	return mount_fd;
}

/*
 * without the new mount API (Linux < 5.2, valgrind): mount(2) onto the target's fd; the VM does not
 * run yet, so the share's path is the host's alone and names the new mount's root
 */
static int
share_tmpfs_mount(const gchar *path, int target, GError **error)
{
	g_autofree gchar *target_path = g_strdup_printf("/proc/self/fd/%d", target);
	g_autofree gchar *options = g_strdup_printf("size=%s,nr_inodes=%s,mode=0700",
						    SHARE_TMPFS_SIZE, SHARE_TMPFS_INODES);
	g_autofree gchar *root_path = NULL;
	cocoon_autofd int root = -1;

	if (mount("tmpfs", target_path, "tmpfs", MS_NODEV | MS_NOSUID | MS_NOEXEC, options) < 0) {
		cocoon_set_error_from_errno(error, "tmpfs");
		return -1;
	}
	root = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (root < 0 || !cocoon_fs_is_mount_root(root)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "the tmpfs is not at %s", path);
		return -1;
	}
	root_path = g_strdup_printf("/proc/self/fd/%d", root);
	if (mount(NULL, root_path, "none", MS_PRIVATE, NULL) < 0) {
		cocoon_set_error_from_errno(error, "make the tmpfs private");
		(void)umount2(root_path, MNT_DETACH);
		return -1;
	}
	return cocoon_steal_fd(&root);
}

/*
 * the share's propagation, set once it is attached: attaching under a parent mount with shared
 * propagation (systemd's "/") makes the attached tree shared with the parent's peers, whatever it
 * was before, so it is made private here in any case; a peer group of its own after that, when
 * asked
 */
static gboolean
share_set_propagation(int fd, CocoonSharePropagation propagation, GError **error)
{
	g_autofree gchar *path = g_strdup_printf("/proc/self/fd/%d", fd);

	if (mount(NULL, path, "none", MS_PRIVATE, NULL) < 0) {
		cocoon_set_error_from_errno(error, "make the tmpfs private");
		return FALSE;
	}
	if (propagation == COCOON_SHARE_PEER_GROUP &&
	    mount(NULL, path, "none", MS_SHARED, NULL) < 0) {
		cocoon_set_error_from_errno(error, "make the tmpfs a peer group of its own");
		return FALSE;
	}
	return TRUE;
}

CocoonShare *
cocoon_share_new(const gchar *path, CocoonSharePropagation propagation, GError **error)
{
	g_autoptr(CocoonShare) share = g_new0(CocoonShare, 1);
	cocoon_autofd int target = -1;
	cocoon_autofd int tmpfs = -1;
	struct stat st;

	share->fd = -1;
	share->volumes_fd = -1;
	share->volumes = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
					       (GDestroyNotify)share_volume_free);
	share->path = g_strdup(path);
	if (g_mkdir_with_parents(path, 0700) < 0) {
		cocoon_set_error_from_errno(error, "mkdir %s", path);
		return NULL;
	}
	target = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (target < 0 || fstat(target, &st) < 0 || !S_ISDIR(st.st_mode)) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
			    "%s: %s (a directory, not a symlink, is needed)", path,
			    g_strerror(errno));
		return NULL;
	}
	tmpfs = share_tmpfs_new(error);
	/*
	 * without the new mount API the copies are bind mounts made in place, peers of their
	 * sources for a moment: in a shared share that moment would make virtiofsd's copies slaves
	 * of the host's mounts (cocoon_mount_clone())
	 */
	if (tmpfs < 0 && errno == ENOSYS && propagation == COCOON_SHARE_PEER_GROUP) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
			    "%s: virtio-fs needs the new mount API (fsopen, open_tree: Linux 5.2)",
			    path);
		return NULL;
	}
	if (tmpfs < 0 && errno == ENOSYS) {
		share->fd = share_tmpfs_mount(path, target, error);
	} else if (tmpfs >= 0 &&
		   move_mount(tmpfs, "", target, "",
			      MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) == 0) {
		share->fd = cocoon_steal_fd(&tmpfs);
	} else if (tmpfs >= 0) {
		cocoon_set_error_from_errno(error, "move_mount");
	}
	if (share->fd < 0 || !share_set_propagation(share->fd, propagation, error)) {
		g_prefix_error(error, "%s: ", path);
		return NULL;
	}
	return g_steal_pointer(&share);
}

void
cocoon_share_free(CocoonShare *share)
{
	g_autoptr(GError) error = NULL;

	if (share == NULL)
		return;
	/* the tmpfs and whatever is still mounted in it, wherever the guest moved it */
	if (share->fd >= 0) {
		if (!cocoon_mount_detach(share->fd, &error))
			g_warning("%s: %s", share->path, error->message);
		else
			(void)g_rmdir(share->path);
	}
	cocoon_fd_closep(&share->volumes_fd);
	cocoon_fd_closep(&share->fd);
	g_clear_pointer(&share->volumes, g_hash_table_unref);
	g_free(share->path);
	g_free(share);
}

const gchar *
cocoon_share_get_path(CocoonShare *share)
{
	return share->path;
}

static gboolean
check_name(const gchar *what, const gchar *name, GError **error)
{
	if (name == NULL || name[0] == '\0' || strchr(name, '/') != NULL ||
	    g_str_equal(name, ".") || g_str_equal(name, "..")) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "%s \"%s\" is not a plain file name", what, name != NULL ? name : "");
		return FALSE;
	}
	return TRUE;
}

CocoonShareArea *
cocoon_share_area_new(CocoonShare *share, const gchar *id, GError **error)
{
	g_autoptr(CocoonShareArea) area = NULL;

	if (!check_name("container id", id, error))
		return NULL;
	if (g_str_equal(id, SHARE_VOLUMES_DIR)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "container id \"%s\" is the share's own", id);
		return NULL;
	}
	area = g_new0(CocoonShareArea, 1);
	area->share = share;
	area->id = g_strdup(id);
	area->fd = -1;
	area->mounts = g_array_new(FALSE, FALSE, sizeof(int));
	area->volumes = g_ptr_array_new_with_free_func(g_free);
	/* a name the guest took first (a symlink, a directory with traps in it) goes */
	cocoon_fs_remove_beneath(share->fd, id);
	area->fd = cocoon_fs_mkdir_beneath(share->fd, id, 0700, error);
	if (area->fd < 0) {
		g_prefix_error(error, "%s: ", share->path);
		return NULL;
	}
	return g_steal_pointer(&area);
}

/* the mount point: a new directory or an empty file, opened without following anything */
static int
make_target(int dir_fd, const gchar *name, gboolean directory, GError **error)
{
	int fd;

	if (directory)
		return cocoon_fs_mkdir_beneath(dir_fd, name, 0700, error);
	fd = openat(dir_fd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		cocoon_set_error_from_errno(error, "create %s", name);
	return fd;
}

gboolean
cocoon_share_area_attach(CocoonShareArea *area, const gchar *subdir, const gchar *name,
			 CocoonMountCopy *copy_taken, gboolean directory, GError **error)
{
	g_autoptr(CocoonMountCopy) copy = copy_taken;
	cocoon_autofd int subdir_fd = -1;
	cocoon_autofd int target = -1;
	int mount_fd = -1;

	if (!check_name("mount point", name, error) ||
	    (subdir != NULL && !check_name("directory", subdir, error)))
		return FALSE;
	if (subdir != NULL) {
		subdir_fd = cocoon_fs_mkdir_beneath(area->fd, subdir, 0700, error);
		if (subdir_fd < 0)
			return FALSE;
	}
	target = make_target(subdir_fd >= 0 ? subdir_fd : area->fd, name, directory, error);
	if (target >= 0)
		mount_fd = cocoon_mount_copy_attach(
			copy, target, subdir_fd >= 0 ? subdir_fd : area->fd, name, error);
	if (mount_fd < 0) {
		g_prefix_error(error, "%s/%s/%s%s%s: ", area->share->path, area->id,
			       subdir != NULL ? subdir : "", subdir != NULL ? "/" : "", name);
		return FALSE;
	}
	g_array_append_val(area->mounts, mount_fd);
	return TRUE;
}

guint
cocoon_share_area_get_n_mounts(CocoonShareArea *area)
{
	return area->mounts->len + area->volumes->len;
}

/* a volume is the same when it is the same file or directory, copied the same way */
static gchar *
share_volume_key(const struct stat *st, gboolean recursive, gboolean readonly)
{
	return g_strdup_printf("%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT ":%s:%s",
			       (guint64)st->st_dev, (guint64)st->st_ino,
			       recursive ? "rbind" : "bind", readonly ? "ro" : "rw");
}

/*
 * cocoon_share_area_attach_volume:
 *
 * virtiofsd tells inodes apart by (st_dev, st_ino, mount id): two copies of one host directory,
 * one per container, would be two inodes in the guest, with their own page cache and their own
 * locks (virtiofsd leaves POSIX locks and flock to the guest kernel), so two containers of a pod
 * locking one file on a volume would never see each other's lock. The containers of a pod that
 * name the same source the same way therefore share one copy, attached once at
 * <share>/.volumes/<n> and detached when the last of them goes. A read-only and a writable use of
 * one source stay two copies: the host keeps a read-only copy read-only whatever the guest does.
 * Later mounts below an rbind source reach the first copy only.
 *
 * Returns: <n>, or NULL with error
 */
gchar *
cocoon_share_area_attach_volume(CocoonShareArea *area, int source_fd, gboolean recursive,
				gboolean readonly, GError **error)
{
	CocoonShare *share = area->share;
	g_autoptr(CocoonMountCopy) copy = NULL;
	g_autofree gchar *key = NULL;
	g_autofree gchar *name = NULL;
	cocoon_autofd int target = -1;
	ShareVolume *volume;
	struct stat st;
	int mount_fd;

	if (fstat(source_fd, &st) < 0) {
		cocoon_set_error_from_errno(error, "fstat");
		return NULL;
	}
	key = share_volume_key(&st, recursive, readonly);
	volume = g_hash_table_lookup(share->volumes, key);
	if (volume == NULL) {
		if (share->volumes_fd < 0) {
			cocoon_fs_remove_beneath(share->fd, SHARE_VOLUMES_DIR);
			share->volumes_fd =
				cocoon_fs_mkdir_beneath(share->fd, SHARE_VOLUMES_DIR, 0700, error);
			if (share->volumes_fd < 0) {
				g_prefix_error(error, "%s/%s: ", share->path, SHARE_VOLUMES_DIR);
				return NULL;
			}
		}
		copy = cocoon_mount_clone(source_fd, recursive, readonly, error);
		if (copy == NULL)
			return NULL;
		name = g_strdup_printf("%u", share->next_volume++);
		target = make_target(share->volumes_fd, name, S_ISDIR(st.st_mode), error);
		mount_fd = target < 0 ? -1
				      : cocoon_mount_copy_attach(copy, target, share->volumes_fd,
								 name, error);
		if (mount_fd < 0) {
			g_prefix_error(error, "%s/%s/%s: ", share->path, SHARE_VOLUMES_DIR, name);
			return NULL;
		}
		volume = g_new0(ShareVolume, 1);
		volume->key = g_strdup(key);
		volume->name = g_strdup(name);
		volume->mount_fd = mount_fd;
		g_hash_table_insert(share->volumes, volume->key, volume);
	}
	volume->refs++;
	g_ptr_array_add(area->volumes, g_steal_pointer(&key));
	return g_strdup(volume->name);
}

/* the last user of a pod volume detaches it and removes its mount point */
static void
share_volume_release(CocoonShare *share, const gchar *key)
{
	ShareVolume *volume = g_hash_table_lookup(share->volumes, key);
	g_autoptr(GError) error = NULL;

	if (volume == NULL || --volume->refs > 0)
		return;
	if (!cocoon_mount_detach(volume->mount_fd, &error))
		g_warning("%s/%s/%s: %s", share->path, SHARE_VOLUMES_DIR, volume->name,
			  error->message);
	else
		cocoon_fs_remove_beneath(share->volumes_fd, volume->name);
	g_hash_table_remove(share->volumes, key);
}

void
cocoon_share_area_free(CocoonShareArea *area)
{
	if (area == NULL)
		return;
	for (guint i = area->mounts->len; i > 0; i--) {
		int fd = g_array_index(area->mounts, int, i - 1);
		g_autoptr(GError) error = NULL;
		if (!cocoon_mount_detach(fd, &error))
			g_warning("container %s: share mount %u: %s", area->id, i - 1,
				  error->message);
		close(fd);
	}
	g_array_unref(area->mounts);
	for (guint i = area->volumes->len; i > 0; i--)
		share_volume_release(area->share, g_ptr_array_index(area->volumes, i - 1));
	g_ptr_array_unref(area->volumes);
	/* not below a mount that stayed: cocoon_fs_remove_beneath() leaves those alone */
	if (area->fd >= 0)
		cocoon_fs_remove_beneath(area->share->fd, area->id);
	cocoon_fd_closep(&area->fd);
	g_free(area->id);
	g_free(area);
}
