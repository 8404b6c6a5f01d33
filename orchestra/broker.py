"""The embedded mode's broker: kombu's filesystem transport, with messages written atomically.

kombu writes a message file in place, so a worker polling the folder can open it before its bytes
are there, fail to parse it, and crash (likely once it polls often, as the embedded mode does to
keep a trivial run fast). Here the message is written under a name the consumer ignores and then
renamed into place, which POSIX makes atomic.
"""

import os
import uuid
from time import monotonic

from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = "{}_{}.{}.msg".format(int(round(monotonic() * 1000)), uuid.uuid4(), queue)
        path = os.path.join(self.data_folder_out, name)
        partial = path + ".partial"  # the consumer only takes names ending in "<queue>.msg"
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, path)
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot add file {path!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
