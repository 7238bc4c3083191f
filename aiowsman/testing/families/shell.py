"""Remote shells (WinRS): ``windows/shell/cmd`` shells and the ``windows/shell`` listing.

The operations of MS-WSMV 3.1.4.1.31 and 3.1.4.5-3.1.4.14 on a simulated
host. As in WinRS, what runs in a shell is a plug-in chosen by the shell's
resource URI (:class:`ShellPlugin`): :class:`CmdPlugin` for
``windows/shell/cmd`` (the rules below), and PowerShell's runspace pools for
``http://schemas.microsoft.com/powershell/<configuration>``
(:mod:`aiowsman.testing.families.psrp`, which states its own rules). The
family keeps the shells of both, their quotas, idle expiry and listing, and
the WinRS messages; the rules, for cmd:

* **Create** (``.../windows/shell/cmd``, body ``rsp:Shell``): a shell with
  the requested streams, environment, working directory (default
  ``C:\\Users\\<user>``), idle timeout and options ``WINRS_CODEPAGE``
  (default 437, the OEM code page of an en-US host; a code page the host
  cannot encode is refused with the cmd plug-in's InvalidParameter fault)
  and ``WINRS_NOPROFILE``. The answer is ``x:ResourceCreated`` plus the
  ``rsp:Shell`` (the corpus' pypsrp-shell-create-response-*.xml shape).
  Beyond ``MaxShellsPerUser`` shells of one user: the QuotaLimit fault
  (2150859173).
* **Command**: ``rsp:Command`` and the ``rsp:Arguments`` joined by spaces run
  as ``cmd.exe /c`` (:mod:`aiowsman.testing._cmd`), or, with
  ``WINRS_SKIP_CMD_SHELL=TRUE``, as a program started directly (a cmd
  built-in or an unknown program then faults: "The system cannot find the
  file specified"). A command lives until it is signalled ``terminate``
  (or its shell goes): beyond ``max_commands_per_shell`` live commands in a
  shell, or ``MaxConcurrentOperationsPerUser`` live commands of a user, the
  command is refused with the quota fault.
* **Send**: stdin blocks; ``End`` closes stdin -- unless the command's stdin
  is in console mode (``WINRS_CONSOLEMODE_STDIN`` absent or TRUE), where, as
  with a real console, a program waiting for the end of its input never
  sees it.
* **Receive**: the unread output of the desired streams, in the order it
  was written, at most what fits MaxEnvelopeSize; when the program has
  exited and everything is read, an empty ``End="true"`` stream per desired
  stream, ``CommandState/Done`` and ``ExitCode`` (corpus
  pypsrp-shell-receive-response-done.xml). With no output before
  OperationTimeout: the ``w:TimedOut`` fault (2150858793; MS-WSMV 3.1.4.14).
  A Receive without a CommandId on a cmd shell has nothing to return and
  waits out OperationTimeout too (it still keeps the shell alive).
* **Signal**: ``ctrl_c``/``ctrl_break`` interrupt the program, ``terminate``
  stops it and forgets the command (later requests naming it fault with
  2150858843, corpus pypsrp-fault-invalidselectors-bad-commandid.xml).
* **Delete**: stops the shell's programs and forgets it. A request naming a
  shell the host does not know faults with 2150858843 and HTTP 400.
* **Get** / **Enumerate** of ``.../windows/shell``: the user's shells as
  ``rsp:Shell`` elements (``winrm enumerate windows/shell``).
* **Idle timeout**: a shell without a request for its IdleTimeOut (the
  requested one, capped by ``winrm/config/winrs`` IdleTimeout) is deleted
  before the next request to the host is served.

The quotas are read from ``winrm/config`` (a Put changes them, as
``winrm set winrm/config/winrs @{MaxShellsPerUser="5"}`` would) except
``max_commands_per_shell``, a plug-in quota, set on the family.

Tests inspect the state: ``host.family(ShellFamily).open_shells()``, each
shell's ``commands`` (their ``process``: exit code, stdin received,
whether interrupted), and the lists ``created``, ``deleted``, ``expired``
and ``signals``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Final

from lxml import etree

from aiowsman.protocol.namespaces import (
    ACTION_CREATE,
    ACTION_CREATE_RESPONSE,
    ACTION_DELETE,
    ACTION_DELETE_RESPONSE,
    ACTION_ENUMERATE,
    ACTION_GET,
    ACTION_GET_RESPONSE,
    ACTION_SHELL_COMMAND,
    ACTION_SHELL_RECEIVE,
    ACTION_SHELL_SEND,
    ACTION_SHELL_SIGNAL,
    ADDRESS_ANONYMOUS,
    COMMAND_STATE_DONE,
    COMMAND_STATE_RUNNING,
    NS_WINRS,
    SIGNAL_CTRL_BREAK,
    SIGNAL_CTRL_C,
    SIGNAL_TERMINATE,
    URI_POWERSHELL,
    URI_SHELL,
    URI_SHELL_CMD,
)
from aiowsman.testing._cmd import (
    PROGRAMS,
    Context,
    Environment,
    ProgramIO,
    SimProcess,
    codec_for,
    program_name,
    run_command_line,
    run_program,
    split_arguments,
)
from aiowsman.testing._data import os_facts
from aiowsman.testing._enumeration import Items
from aiowsman.testing._faults import Fault
from aiowsman.testing._request import ParsedRequest, parse_duration
from aiowsman.testing._xml import ENVELOPE_SHELL, attr, new_uuid, text
from aiowsman.testing.families.base import Host, Reply, ResourceFamily
from aiowsman.testing.families.cim import CimFamily
from aiowsman.testing.families.config import ConfigFamily

__all__ = ["CmdPlugin", "RemoteCommand", "RemoteShell", "ShellFamily", "ShellPlugin"]

_RSP = "{" + NS_WINRS + "}"
_XMLNS_RSP: Final = f'xmlns:rsp="{NS_WINRS}"'
#: The OEM code page of an en-US Windows host: a shell's default.
DEFAULT_CODEPAGE: Final = 437
#: The ReceiveResponse around the streams, and each stream element (bytes).
_RECEIVE_OVERHEAD: Final = 4096
_STREAM_OVERHEAD: Final = 160
#: Programs WinRS can start without cmd.exe (cmd's built-ins are not programs).
_EXECUTABLES: Final = frozenset(PROGRAMS) - {"exit", "set", "cd", "chdir", "ver"}


def _seconds_text(seconds: float) -> str:
    millis = round(seconds * 1000)
    return f"PT{millis // 1000}.{millis % 1000:03d}S"


def _elapsed_text(seconds: float) -> str:
    # Windows writes ShellRunTime / ShellInactivity as P0DT0H0M0S.
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"P{days}DT{hours}H{minutes}M{secs}S"


@dataclass
class RemoteCommand:
    """A command in a shell.

    Attributes:
        command_id: its CommandId.
        command_line: what runs (``cmd.exe /c`` of this, or the program).
        process: the running program (exit code, stdin received...).
        console_stdin: stdin is a console (its end never reaches the program).
        done_sent: a Receive has reported CommandState Done.
    """

    command_id: str
    command_line: str
    process: SimProcess
    console_stdin: bool
    done_sent: bool = False


@dataclass
class RemoteShell:
    """One open shell.

    Attributes:
        shell_id: its ShellId.
        resource_uri: the shell resource it was created on.
        owner: the user it belongs to.
        codepage: the console code page of its programs.
        idle_timeout: seconds without a request before it is deleted.
        commands: live commands by CommandId.
        receiving: Receives in progress (a shell waiting on one is not idle).
    """

    shell_id: str
    resource_uri: str
    owner: str
    codepage: int
    idle_timeout: float
    environment: Environment
    working_directory: str
    input_streams: tuple[str, ...]
    output_streams: tuple[str, ...]
    name: str | None = None
    noprofile: bool = False
    variables: tuple[tuple[str, str], ...] = ()
    created: float = field(default_factory=time.monotonic)
    last_used: float = field(default_factory=time.monotonic)
    commands: dict[str, RemoteCommand] = field(default_factory=dict)
    receiving: int = 0
    #: What runs in it (cmd.exe's plug-in, PowerShell's...).
    plugin: ShellPlugin | None = None
    #: The plug-in's state of this shell (a runspace pool for PowerShell).
    runtime: Any = None

    def touch(self) -> None:
        self.last_used = time.monotonic()

    def xml(self, client_ip: str) -> str:
        """The ``rsp:Shell`` element Windows returns for it."""
        now = time.monotonic()
        parts = [
            f"<rsp:Shell {_XMLNS_RSP}><rsp:ShellId>{self.shell_id}</rsp:ShellId>",
        ]
        if self.name is not None:
            parts.append(f"<rsp:Name>{text(self.name)}</rsp:Name>")
        parts.append(
            f"<rsp:ResourceUri>{text(self.resource_uri)}</rsp:ResourceUri>"
            f"<rsp:Owner>{text(self.owner)}</rsp:Owner>"
            f"<rsp:ClientIP>{text(client_ip)}</rsp:ClientIP>"
        )
        if self.variables:
            # The requested variables are echoed (corpus pypsrp-shell-create-response-environment).
            parts.append("<rsp:Environment>")
            parts.extend(
                f'<rsp:Variable Name="{attr(k)}">{text(v)}</rsp:Variable>'
                for k, v in self.variables
            )
            parts.append("</rsp:Environment>")
        if self.working_directory != _profile_dir(self.owner):
            parts.append(
                f"<rsp:WorkingDirectory>{text(self.working_directory)}</rsp:WorkingDirectory>"
            )
        parts.append(
            f"<rsp:IdleTimeOut>{_seconds_text(self.idle_timeout)}</rsp:IdleTimeOut>"
            f"<rsp:InputStreams>{' '.join(self.input_streams)}</rsp:InputStreams>"
            f"<rsp:OutputStreams>{' '.join(self.output_streams)}</rsp:OutputStreams>"
            f"<rsp:ShellRunTime>{_elapsed_text(now - self.created)}</rsp:ShellRunTime>"
            f"<rsp:ShellInactivity>{_elapsed_text(now - self.last_used)}</rsp:ShellInactivity>"
            "</rsp:Shell>"
        )
        return "".join(parts)


def _profile_dir(user: str) -> str:
    return f"C:\\Users\\{user.rpartition(chr(92))[2] or 'user'}"


class ShellFamily(ResourceFamily):
    """The remote shells of one host (see the module docstring for the rules).

    Attributes:
        shells: open shells by ShellId.
        max_commands_per_shell: live commands one shell may hold (the shell
            plug-in's MaxConcurrentCommandsPerShell; Windows' default 1000).
        ping_interval: seconds between the replies of the simulated ``ping``.
        created, deleted, expired: ShellIds, in order.
        signals: ``(ShellId, CommandId, signal URI)`` of every Signal received.
    """

    name = "shell"
    resource_uris = (URI_SHELL, URI_POWERSHELL)

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.cmd = CmdPlugin(self)
        #: The PowerShell plug-in (made on first use: it needs psrpcore).
        self._powershell: ShellPlugin | None = None
        self.shells: dict[str, RemoteShell] = {}
        self.max_commands_per_shell = 1000
        self.ping_interval = 1.0
        self.created: list[str] = []
        self.deleted: list[str] = []
        self.expired: list[str] = []
        self.signals: list[tuple[str, str, str]] = []

    # -- inspection ------------------------------------------------------------------

    def open_shells(self, user: str | None = None) -> list[RemoteShell]:
        """The open shells (of ``user``, when given), idle ones expired first."""
        self.expire_idle()
        return [s for s in self.shells.values() if user is None or s.owner == user]

    @property
    def powershell(self) -> ShellPlugin:
        """The PowerShell plug-in (:mod:`aiowsman.testing.families.psrp`).

        Raises:
            Fault: psrpcore is not installed (the ``psrp`` extra).
        """
        if self._powershell is None:
            try:
                from aiowsman.testing.families.psrp import PowerShellPlugin
            except ImportError:
                raise Fault.destination_unreachable(URI_POWERSHELL) from None
            self._powershell = PowerShellPlugin(self)
        return self._powershell

    def plugin_for(self, uri: str) -> ShellPlugin:
        """The plug-in serving shells of resource URI ``uri``.

        Raises:
            Fault: no plug-in serves it (DestinationUnreachable).
        """
        if uri == URI_SHELL_CMD:
            return self.cmd
        if uri.startswith(URI_POWERSHELL + "/"):
            return self.powershell
        raise Fault.destination_unreachable(uri)

    def live_commands(self) -> int:
        """Commands not yet terminated, over all shells."""
        return sum(len(s.commands) for s in self.shells.values())

    def expire_idle(self) -> None:
        """Delete every shell idle for longer than its IdleTimeOut (MS-WSMV 3.1.5.3)."""
        now = time.monotonic()
        for shell in list(self.shells.values()):
            if shell.receiving == 0 and now - shell.last_used > shell.idle_timeout:
                self._drop(shell)
                self.expired.append(shell.shell_id)

    async def close(self) -> None:
        tasks: list[asyncio.Task[None]] = []
        for shell in list(self.shells.values()):
            tasks.extend(c.process.task for c in shell.commands.values() if c.process.task)
            self._drop(shell)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- settings --------------------------------------------------------------------

    def _setting(self, *path: str) -> int:
        """A number of ``winrm/config`` (``_setting("Winrs", "MaxShellsPerUser")``)."""
        raw = self.host.family(ConfigFamily).tree.value(path)
        try:
            return int(raw)
        except ValueError:
            return 2147483647

    # -- dispatch -------------------------------------------------------------------------

    def handle(self, req: ParsedRequest, user: str | None) -> Reply | Awaitable[Reply]:
        self.expire_idle()
        action = req.action
        if action == ACTION_SHELL_RECEIVE:
            return self._receive(req)
        if action == ACTION_SHELL_COMMAND:
            return self._reply(action, self._command(req, user))
        if action == ACTION_SHELL_SEND:
            return self._reply(action, self._send(req))
        if action == ACTION_SHELL_SIGNAL:
            return self._reply(action, self._signal(req))
        if action == ACTION_CREATE:
            return Reply(ACTION_CREATE_RESPONSE, self._create(req, user), ENVELOPE_SHELL)
        if action == ACTION_DELETE:
            self._delete(req)
            return Reply(ACTION_DELETE_RESPONSE)
        if action == ACTION_GET:
            return Reply(ACTION_GET_RESPONSE, self._get(req))
        if action == ACTION_ENUMERATE:
            return self.enumerate(req, user)
        raise Fault.action_not_supported(action)

    @staticmethod
    def _reply(action: str, body: str) -> Reply:
        return Reply(action + "Response", body, ENVELOPE_SHELL)

    def _shell(self, req: ParsedRequest) -> RemoteShell:
        shell_id = req.selectors.get("ShellId")
        if not shell_id:
            raise Fault.invalid_selectors(
                "The WS-Management service cannot process the request because the request "
                "contained insufficient selectors for the resource. ",
                detail="InsufficientSelectors",
            )
        shell = self.shells.get(shell_id)
        if shell is None:
            raise Fault.shell_not_found(shell_id)
        shell.touch()
        return shell

    @staticmethod
    def _body(req: ParsedRequest, element: str) -> etree._Element:
        body = req.body
        if body is None or body.tag != _RSP + element:
            raise Fault.schema_validation(f"The request body must contain rsp:{element}. ")
        return body

    @staticmethod
    def _command_of(shell: RemoteShell, command_id: str | None) -> RemoteCommand:
        command = shell.commands.get(command_id or "")
        if command is None:
            raise Fault.command_not_found()
        return command

    # -- Create, Delete, Get, Enumerate ----------------------------------------------------

    def _create(self, req: ParsedRequest, user: str | None) -> str:
        uri = req.resource_uri or ""
        plugin = self.plugin_for(uri)
        body = self._body(req, "Shell")
        owner = user or "user"
        limit = self._setting("Winrs", "MaxShellsPerUser")
        if sum(1 for s in self.shells.values() if s.owner == owner) >= limit:
            raise Fault.quota_shells(limit)
        plugin.check_quota(self, owner)
        codepage = DEFAULT_CODEPAGE
        if "WINRS_CODEPAGE" in req.options:
            try:
                codepage = int(req.options["WINRS_CODEPAGE"])
            except ValueError:
                raise Fault.shell_invalid_parameter() from None
            if codec_for(codepage) is None:
                raise Fault.shell_invalid_parameter()
        max_idle = self._setting("Winrs", "IdleTimeout") / 1000
        idle = max_idle
        idle_text = body.findtext(_RSP + "IdleTimeOut")
        if idle_text:
            try:
                idle = min(parse_duration(idle_text), max_idle)
            except ValueError:
                raise Fault.schema_validation(f"Invalid IdleTimeOut {idle_text}. ") from None
        environment = self._environment(owner)
        variables: list[tuple[str, str]] = []
        env = body.find(_RSP + "Environment")
        if env is not None:
            for var in env.iter(_RSP + "Variable"):
                variables.append((var.get("Name", ""), var.text or ""))
                environment[var.get("Name", "")] = var.text or ""
        shell = RemoteShell(
            shell_id=(body.get("ShellId") or new_uuid()).upper(),
            resource_uri=uri,
            owner=owner,
            codepage=codepage,
            idle_timeout=idle,
            environment=environment,
            working_directory=(body.findtext(_RSP + "WorkingDirectory") or "").strip()
            or _profile_dir(owner),
            input_streams=tuple((body.findtext(_RSP + "InputStreams") or "stdin").split()),
            output_streams=tuple(
                (body.findtext(_RSP + "OutputStreams") or "stdout stderr").split()
            ),
            name=body.findtext(_RSP + "Name"),
            noprofile=req.options.get("WINRS_NOPROFILE", "").upper() == "TRUE",
            variables=tuple(variables),
            plugin=plugin,
        )
        if shell.shell_id in self.shells:
            raise Fault.shell_invalid_parameter()  # a client-chosen ShellId already in use
        plugin.create(shell, req, body)
        self.shells[shell.shell_id] = shell
        self.created.append(shell.shell_id)
        return (
            f"<x:ResourceCreated><a:Address>{text(self.host.url or ADDRESS_ANONYMOUS)}"
            f"</a:Address><a:ReferenceParameters><w:ResourceURI>{uri}</w:ResourceURI>"
            f'<w:SelectorSet><w:Selector Name="ShellId">{shell.shell_id}</w:Selector>'
            f"</w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>"
            f"{shell.xml(self._client_ip())}"
        )

    def _client_ip(self) -> str:
        return "127.0.0.1"

    def _environment(self, user: str) -> Environment:
        short = user.rpartition("\\")[2] or "user"
        host = self.host.hostname
        return Environment(
            {
                "COMPUTERNAME": host,
                "USERNAME": short,
                "USERDOMAIN": host,
                "USERPROFILE": _profile_dir(user),
                "SystemRoot": "C:\\Windows",
                "windir": "C:\\Windows",
                "ComSpec": "C:\\Windows\\system32\\cmd.exe",
                "OS": "Windows_NT",
                "PROCESSOR_ARCHITECTURE": "AMD64",
                "NUMBER_OF_PROCESSORS": "2",
                "PATHEXT": ".COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH;.MSC",
                "TEMP": f"{_profile_dir(user)}\\AppData\\Local\\Temp",
                "TMP": f"{_profile_dir(user)}\\AppData\\Local\\Temp",
            }
        )

    def _drop(self, shell: RemoteShell) -> None:
        for command in shell.commands.values():
            command.process.kill()
        shell.commands.clear()
        self.shells.pop(shell.shell_id, None)
        if shell.plugin is not None:
            shell.plugin.closed(shell)

    def _delete(self, req: ParsedRequest) -> None:
        shell = self._shell(req)
        self._drop(shell)
        self.deleted.append(shell.shell_id)

    def _get(self, req: ParsedRequest) -> str:
        return self._shell(req).xml(self._client_ip())

    def enumeration_items(
        self, req: ParsedRequest, enum: etree._Element, user: str | None
    ) -> Items:
        if req.resource_uri != URI_SHELL:
            raise Fault.destination_unreachable(req.resource_uri or "")
        owner = user or "user"
        return [s.xml(self._client_ip()) for s in self.shells.values() if s.owner == owner]

    # -- Command, Send, Signal -------------------------------------------------------------

    def _command(self, req: ParsedRequest, user: str | None) -> str:
        shell = self._shell(req)
        body = self._body(req, "CommandLine")
        if len(shell.commands) >= self.max_commands_per_shell:
            raise Fault.quota_commands_per_shell()
        limit = self._setting("Service", "MaxConcurrentOperationsPerUser")
        owned = sum(len(s.commands) for s in self.shells.values() if s.owner == shell.owner)
        if owned >= limit:
            raise Fault.quota(limit)
        command_id = (body.get("CommandId") or new_uuid()).upper()
        if command_id in shell.commands:
            raise Fault.shell_invalid_parameter()
        plugin = shell.plugin or self.cmd
        shell.commands[command_id] = plugin.command(shell, req, body, command_id)
        return (
            f"<rsp:CommandResponse {_XMLNS_RSP}><rsp:CommandId>{command_id}</rsp:CommandId>"
            "</rsp:CommandResponse>"
        )

    def context(self, shell: RemoteShell, *, console_stdin: bool = True) -> Context:
        """What a program started in ``shell`` sees of the host."""
        host = self.host
        return Context(
            hostname=host.hostname,
            user=shell.owner,
            environment=shell.environment.copy(),
            cwd=shell.working_directory,
            codepage=shell.codepage,
            os_version=os_facts(host.seed, host.index)[1],
            ping_interval=self.ping_interval,
            services=self.services,
            console_stdin=console_stdin,
        )

    def services(self) -> list[tuple[str, str, str]]:
        """The host's services (name, state, display name), from its Win32_Service instances."""
        store = self.host.family(CimFamily).load_store()
        return [
            (str(i.values["Name"]), str(i.values["State"]), str(i.values["DisplayName"]))
            for i in store.instances("Win32_Service")
        ]

    def _send(self, req: ParsedRequest) -> str:
        shell = self._shell(req)
        body = self._body(req, "Send")
        plugin = shell.plugin or self.cmd
        for stream in body.iter(_RSP + "Stream"):
            name = stream.get("Name", "")
            if name not in shell.input_streams:
                raise Fault.shell_invalid_parameter()
            command_id = stream.get("CommandId")
            command = self._command_of(shell, command_id) if command_id else None
            try:
                data = base64.b64decode((stream.text or "").strip(), validate=True)
            except (binascii.Error, ValueError):
                raise Fault.schema_validation("The Send stream is not base64. ") from None
            end = stream.get("End", "").lower() in ("true", "1")
            plugin.send(shell, command, name, data, end=end)
        return f"<rsp:SendResponse {_XMLNS_RSP}/>"

    def _signal(self, req: ParsedRequest) -> str:
        shell = self._shell(req)
        body = self._body(req, "Signal")
        command_id = body.get("CommandId")
        code = (body.findtext(_RSP + "Code") or "").strip()
        self.signals.append((shell.shell_id, command_id or "", code))
        command = self._command_of(shell, command_id)
        low = code.lower()
        if low == SIGNAL_TERMINATE:
            command.process.kill()
            del shell.commands[command.command_id]
            (shell.plugin or self.cmd).forgotten(shell, command)
        else:
            (shell.plugin or self.cmd).signal(shell, command, low)
        return f"<rsp:SignalResponse {_XMLNS_RSP}/>"

    # -- Receive -----------------------------------------------------------------------------

    async def _receive(self, req: ParsedRequest) -> Reply:
        shell = self._shell(req)
        body = self._body(req, "Receive")
        desired = body.find(_RSP + "DesiredStream")
        streams = frozenset(
            (desired.text or "").split() if desired is not None else shell.output_streams
        ) or frozenset(shell.output_streams)
        command_id = desired.get("CommandId") if desired is not None else None
        timeout = req.operation_timeout if req.operation_timeout is not None else 60.0
        envelope = req.max_envelope_size or 512000
        budget = max(4096, envelope - _RECEIVE_OVERHEAD)
        if not command_id:
            own = (shell.plugin or self.cmd).shell_output(shell)
            shell.receiving += 1
            try:
                if own is None:
                    # A cmd shell has no output of its own: nothing comes before the timeout.
                    await asyncio.sleep(timeout)
                    ready = False
                else:
                    ready = await own.wait_ready(streams, timeout) and own.has_output(streams)
            finally:
                shell.receiving -= 1
                shell.touch()
            if own is None or not ready or self.shells.get(shell.shell_id) is not shell:
                raise Fault.timed_out()
            # The shell's own output (a runspace pool's): no CommandId, no CommandState.
            parts = [f"<rsp:ReceiveResponse {_XMLNS_RSP}>"]
            for stream, data in own.take(streams, budget, per_block=_STREAM_OVERHEAD):
                payload = base64.b64encode(data).decode("ascii")
                parts.append(f'<rsp:Stream Name="{attr(stream)}">{payload}</rsp:Stream>')
            parts.append("</rsp:ReceiveResponse>")
            return Reply(ACTION_SHELL_RECEIVE + "Response", "".join(parts), ENVELOPE_SHELL)
        command = self._command_of(shell, command_id)
        proc = command.process
        shell.receiving += 1
        try:
            ready = await proc.wait_ready(streams, timeout)
        finally:
            shell.receiving -= 1
            shell.touch()
        if shell.commands.get(command.command_id) is not command:
            raise Fault.command_not_found()  # terminated (or the shell deleted) meanwhile
        if not ready:
            raise Fault.timed_out()  # "no output yet" (MS-WSMV 3.1.4.14)
        parts = [f"<rsp:ReceiveResponse {_XMLNS_RSP}>"]
        cid = attr(command.command_id)
        # Windows sends output in blocks of its own size; so do we (one
        # element per write), charging each element's markup to the budget.
        for stream, data in proc.take(streams, budget, per_block=_STREAM_OVERHEAD):
            payload = base64.b64encode(data).decode("ascii")
            parts.append(
                f'<rsp:Stream Name="{attr(stream)}" CommandId="{cid}">{payload}</rsp:Stream>'
            )
        if proc.done and not proc.output_left(streams):
            order = {name: i for i, name in enumerate(shell.output_streams)}
            for stream in sorted(streams, key=lambda name: (order.get(name, len(order)), name)):
                parts.append(
                    f'<rsp:Stream Name="{attr(stream)}" CommandId="{cid}" End="true"></rsp:Stream>'
                )
            code = proc.exit_code if proc.exit_code is not None else 1
            parts.append(
                f'<rsp:CommandState CommandId="{cid}" State="{COMMAND_STATE_DONE}">'
                f"<rsp:ExitCode>{code}</rsp:ExitCode></rsp:CommandState>"
            )
            command.done_sent = True
        else:
            parts.append(
                f'<rsp:CommandState CommandId="{cid}" State="{COMMAND_STATE_RUNNING}">'
                "</rsp:CommandState>"
            )
        parts.append("</rsp:ReceiveResponse>")
        return Reply(ACTION_SHELL_RECEIVE + "Response", "".join(parts), ENVELOPE_SHELL)


# -- plug-ins: what runs in a shell ----------------------------------------------------------


class ShellPlugin:
    """What runs in the shells of a resource URI. WinRS hands each shell to
    the plug-in of its URI (MS-WSMV 3.1.4.5.2 "Custom Remote Shell"); the
    family keeps the shells, their quotas and the WinRS messages, the
    plug-in the behaviour. Subclasses: :class:`CmdPlugin` (cmd.exe) and
    :class:`~aiowsman.testing.families.psrp.PowerShellPlugin`.
    """

    name = ""

    def __init__(self, family: ShellFamily) -> None:
        self.family = family

    def check_quota(self, family: ShellFamily, owner: str) -> None:
        """Refuse a new shell of ``owner`` beyond the plug-in's own quota.

        Raises:
            Fault: the quota fault.
        """

    def create(self, shell: RemoteShell, req: ParsedRequest, body: etree._Element) -> None:
        """Set up a new shell (before it is listed). Raises Fault to refuse it."""

    def command(
        self, shell: RemoteShell, req: ParsedRequest, body: etree._Element, command_id: str
    ) -> RemoteCommand:
        """Start a command. Raises Fault to refuse it."""
        raise Fault.action_not_supported(req.action)

    def send(
        self,
        shell: RemoteShell,
        command: RemoteCommand | None,
        stream: str,
        data: bytes,
        *,
        end: bool,
    ) -> None:
        """Input on ``stream`` of a command (or, with ``command`` None, of
        the shell). Raises Fault to refuse it."""
        if command is None:
            raise Fault.command_not_found()
        # A console's input never ends (WINRS_CONSOLEMODE_STDIN, MS-WSMV 3.1.4.11).
        command.process.feed(data, end=end and not command.console_stdin)

    def signal(self, shell: RemoteShell, command: RemoteCommand, code: str) -> None:
        """A signal other than terminate (``code`` in lower case). Raises
        Fault for a signal the plug-in does not know."""
        if code in (SIGNAL_CTRL_C, SIGNAL_CTRL_BREAK):
            command.process.interrupt()
        else:
            raise Fault.shell_invalid_parameter()

    def shell_output(self, shell: RemoteShell) -> SimProcess | None:
        """The shell's own output (what a Receive without CommandId reads), or None."""
        return None

    def forgotten(self, shell: RemoteShell, command: RemoteCommand) -> None:
        """A command was terminated (the family has stopped and dropped it)."""

    def closed(self, shell: RemoteShell) -> None:
        """The shell was deleted or expired."""


class CmdPlugin(ShellPlugin):
    """``windows/shell/cmd``: each command runs as ``cmd.exe /c`` (see the module docstring)."""

    name = "cmd"

    def command(
        self, shell: RemoteShell, req: ParsedRequest, body: etree._Element, command_id: str
    ) -> RemoteCommand:
        command = (body.findtext(_RSP + "Command") or "").strip()
        arguments = [a.text or "" for a in body.iter(_RSP + "Arguments")]
        line = " ".join([command, *arguments]).strip()
        skip = req.options.get("WINRS_SKIP_CMD_SHELL", "").upper() == "TRUE"
        if skip:
            words = split_arguments(line)
            if not words or program_name(words[0]) not in _EXECUTABLES:
                raise Fault.shell_file_not_found()
        console = req.options.get("WINRS_CONSOLEMODE_STDIN", "TRUE").upper() != "FALSE"
        process = SimProcess()
        ctx = self.family.context(shell, console_stdin=console)

        async def main(proc: SimProcess) -> int:
            io = ProgramIO(proc.source(), proc.sink("stdout"), proc.sink("stderr"), ctx.codepage)
            if skip:
                # Without cmd.exe the line is one program and its arguments:
                # no variables, operators or redirections (WINRS_SKIP_CMD_SHELL).
                return await run_program(io, ctx, line)
            return await run_command_line(io, ctx, line)

        process.start(main)
        return RemoteCommand(command_id, line, process, console)
