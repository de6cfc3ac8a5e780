"""A WsgiDAV filesystem provider with the two guarantees the WebDAV transport relies on.

Stock WsgiDAV 4.4 (``FilesystemProvider``) checks ``If-None-Match: *`` and then creates the
file in a second step, so two create-only PUTs racing in between both succeed (2 of 8 did
in the first round tried); and a PUT writes the file in place, so a reader can see it half
written or empty. Apache ``mod_dav_fs`` and nginx stage a PUT in a temporary file and
rename it. This provider does the same:

- every PUT body goes to a temporary file in ``<root>/../tmp`` (outside the shared tree, so
  it never shows in listings);
- a plain PUT then replaces the target with it (``os.replace``: readers see the old or the
  new file);
- a create-only PUT (``If-None-Match`` present, and nothing there when the request came)
  hard-links it to the target name (``os.link`` fails when the name exists): of racing
  creators exactly one wins, the others get 412 Precondition Failed, and readers see no
  file or all of it, never an empty one.

Used by ``.ci/webdav-server.sh`` (``provider_mapping`` with ``class``).
"""

import os
import tempfile

from wsgidav import util
from wsgidav.dav_error import HTTP_PRECONDITION_FAILED, DAVError
from wsgidav.fs_dav_provider import FileResource, FilesystemProvider, FolderResource


class _StagedWrite:
    """Writes to a temporary file; on close, ``finish(temp_path)`` publishes it."""

    def __init__(self, tmp_dir, finish):
        fd, self._tmp = tempfile.mkstemp(prefix="put-", dir=tmp_dir)
        self._file = os.fdopen(fd, "wb")
        self._finish = finish

    def write(self, data):
        self._file.write(data)

    def writelines(self, chunks):
        self._file.writelines(chunks)

    def close(self):
        self._file.close()
        try:
            self._finish(self._tmp)
        finally:
            if os.path.exists(self._tmp):
                os.unlink(self._tmp)


class AtomicFileResource(FileResource):
    """An existing file: a PUT replaces it with ``os.replace``."""

    def begin_write(self, *, content_type=None):
        assert not self.is_collection
        return _StagedWrite(self.provider.tmp_dir, lambda tmp: os.replace(tmp, self._file_path))


class NewFileResource(FileResource):
    """A file a create-only PUT is making: nothing exists at ``target`` until the body is
    complete, then it is linked there (or 412 when someone else was first)."""

    def __init__(self, path, environ, placeholder, target):
        super().__init__(path, environ, placeholder)
        self._placeholder = placeholder
        self._target = target
        self.name = util.to_str(os.path.basename(target))

    def begin_write(self, *, content_type=None):
        return _StagedWrite(self.provider.tmp_dir, self._publish)

    def _publish(self, tmp):
        os.unlink(self._placeholder)
        try:
            os.link(tmp, self._target)
        except FileExistsError:
            raise DAVError(HTTP_PRECONDITION_FAILED) from None
        self._file_path = self._target
        self.file_stat = os.stat(self._target)


class AtomicFolderResource(FolderResource):
    def create_empty_resource(self, name):
        if "HTTP_IF_NONE_MATCH" not in self.environ:
            return super().create_empty_resource(name)
        path = util.join_uri(self.path, name)
        target = self.provider._loc_to_file_path(path, self.environ)
        if os.path.lexists(target):
            raise DAVError(HTTP_PRECONDITION_FAILED)
        fd, placeholder = tempfile.mkstemp(prefix="new-", dir=self.provider.tmp_dir)
        os.close(fd)
        res = NewFileResource(path, self.environ, placeholder, target)
        return res


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
