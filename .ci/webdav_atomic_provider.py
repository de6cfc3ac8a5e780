"""A WsgiDAV filesystem provider with the two guarantees the WebDAV transport relies on.

Stock WsgiDAV 4.4 (``FilesystemProvider``) checks ``If-None-Match: *`` and then creates the
file in a second step, so two create-only PUTs racing in between both succeed; and a PUT
writes the file in place, so a reader can see it half written. Apache ``mod_dav_fs`` and
nginx stage a PUT in a temporary file and rename it. This provider does the same:

- a create-only PUT (``If-None-Match`` present) creates the file with ``O_EXCL``: of racing
  creators exactly one wins, the others get 412 Precondition Failed;
- every PUT body goes to a temporary file (in ``<root>/../tmp``, outside the shared tree,
  so it never shows in listings) that replaces the target on close (``os.replace``).

Used by ``.ci/webdav-server.sh`` (``provider_mapping`` with ``class``).
"""

import os
import tempfile

from wsgidav import util
from wsgidav.dav_error import HTTP_PRECONDITION_FAILED, DAVError
from wsgidav.fs_dav_provider import FileResource, FilesystemProvider, FolderResource


class _StagedWrite:
    """A file object that writes to a temporary file and renames it over ``path`` on close."""

    def __init__(self, path, tmp_dir):
        fd, self._tmp = tempfile.mkstemp(prefix="put-", dir=tmp_dir)
        self._file = os.fdopen(fd, "wb")
        self._path = path

    def write(self, data):
        self._file.write(data)

    def writelines(self, chunks):
        self._file.writelines(chunks)

    def close(self):
        self._file.close()
        os.replace(self._tmp, self._path)


class AtomicFileResource(FileResource):
    def begin_write(self, *, content_type=None):
        assert not self.is_collection
        return _StagedWrite(self._file_path, self.provider.tmp_dir)


class AtomicFolderResource(FolderResource):
    def create_empty_resource(self, name):
        if "HTTP_IF_NONE_MATCH" not in self.environ:
            return super().create_empty_resource(name)
        path = util.join_uri(self.path, name)
        fp = self.provider._loc_to_file_path(path, self.environ)
        try:
            fd = os.open(fp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise DAVError(HTTP_PRECONDITION_FAILED) from None
        os.close(fd)
        return self.provider.get_resource_inst(path, self.environ)


class AtomicFilesystemProvider(FilesystemProvider):
    def __init__(self, root_folder, *args, **kwargs):
        super().__init__(root_folder, *args, **kwargs)
        self.tmp_dir = os.path.join(os.path.dirname(os.path.abspath(root_folder)), "tmp")
        os.makedirs(self.tmp_dir, exist_ok=True)

    def get_resource_inst(self, path, environ):
        res = super().get_resource_inst(path, environ)
        if type(res) is FolderResource:
            res.__class__ = AtomicFolderResource
        elif type(res) is FileResource:
            res.__class__ = AtomicFileResource
        return res
