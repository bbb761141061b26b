"""Virtual MFA devices: ``CreateVirtualMFADevice``, ``EnableMFADevice``, ``ListMFADevices``,
``ListVirtualMFADevices``, ``DeactivateMFADevice``, ``DeleteVirtualMFADevice``.

``CreateVirtualMFADevice`` returns ``Base32StringSeed`` (64 base32 characters: 40 random
bytes) and ``QRCodePNG``, both blobs (base64 on the wire, IAM API Reference,
``VirtualMFADevice``). The QR code should encode
``otpauth://totp/$virtualMFADeviceName@$AccountName?secret=$Base32String``; no QR encoder is
installed, so the PNG is a real, valid PNG image (a small blank square) that carries that URI
in a ``tEXt`` chunk with the keyword ``otpauth`` rather than as a scannable code.

``EnableMFADevice`` takes two consecutive RFC 6238 codes (``MfaCodes.consecutive``); otherwise
``InvalidAuthenticationCode`` (403) "Authentication code for device is not valid.".
"""

from __future__ import annotations

import base64
import io
import secrets
import struct
import zlib
from typing import Any, Final
from urllib.parse import quote

from idp.aws.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    InvalidAuthenticationCode,
    LimitExceeded,
    NoSuchEntity,
    ValidationError,
)
from idp.aws.iam.context import Call, Operation, check_tags, existing_user, page, stored_tags
from idp.aws.iam.model import AccountState, MfaDevice, iso
from idp.aws.iam.ops_users import user_struct
from idp.aws.iam.results import Struct

__all__ = ["OPERATIONS", "otpauth_png"]

DEVICES_PER_USER: Final = 8
_MAX_SERIAL_CHARS: Final = 256
#: IAM counts virtual MFA devices against the users quota (5,000 per account).
_DEVICES_PER_ACCOUNT: Final = 5000
_SEED_BYTES: Final = 40


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def otpauth_png(uri: str) -> bytes:
    """The QR code of ``uri`` as a PNG, as IAM returns it for an authenticator app to scan
    (IAM API Reference, ``VirtualMFADevice.QRCodePNG``), drawn by ``segno`` (imported here:
    only device creation needs it); a ``tEXt`` chunk ``otpauth`` also holds ``uri`` for
    readers that cannot scan."""
    import segno

    buffer = io.BytesIO()
    segno.make(uri, error="m", micro=False).save(buffer, kind="png", scale=4, border=4)
    png = buffer.getvalue()
    end = png.rindex(b"IEND") - 4  # the IEND chunk's length field
    return png[:end] + _chunk(b"tEXt", b"otpauth\x00" + uri.encode("latin-1", "replace")) \
        + png[end:]


def _device_arn(call: Call, path: str, name: str) -> str:
    return call.arn("mfa", path, name)


def _find(account: AccountState, serial: str) -> MfaDevice:
    device = account.mfa_devices.get(serial)
    if device is None:
        raise NoSuchEntity(f"VirtualMFADevice with serial number {serial} doesn't exist.")
    return device


def _key(device: MfaDevice) -> str:
    """The device's key in the document (its serial number, as ``seed`` writes it)."""
    return device.serial


def _stored_key(account: dict[str, Any], device: MfaDevice) -> str:
    for key, body in (account.get("mfa") or {}).items():
        if body.get("name") == device.name and body.get("path", "/") == device.path:
            return str(key)
    return _key(device)


def create_virtual_mfa_device(call: Call) -> Struct | None:
    name = call.params.required("VirtualMFADeviceName", "virtualMFADeviceName")
    path = call.params.optional("Path", "pathType") or "/"
    tags = call.params.tags()
    serial = _device_arn(call, path, name)
    if len(serial) > _MAX_SERIAL_CHARS:
        # A device must stay addressable: every call that names it takes a serial number of
        # at most 256 characters (``serialNumberType``).
        room = _MAX_SERIAL_CHARS - (len(serial) - len(name))
        raise ValidationError(
            "1 validation error detected: Value at 'virtualMFADeviceName' failed to satisfy "
            f"constraint: Member must have length less than or equal to {max(room, 0)}",
            detail=f"the serial number {serial[:80]}... would be longer than 256 characters")
    call.authorize(serial)
    check_tags(tags)
    seed = base64.b32encode(secrets.token_bytes(_SEED_BYTES)).decode("ascii")
    now = call.now

    def edit(account: dict[str, Any], state: AccountState) -> None:
        if any(d.name.lower() == name.lower() and d.path == path
               for d in state.mfa_devices.values()):
            raise EntityAlreadyExists("MFADevice entity at the same path and name already "
                                      "exists.")
        if len(state.mfa_devices) >= _DEVICES_PER_ACCOUNT:
            raise LimitExceeded("Cannot exceed quota for VirtualMFADevicesPerAccount: "
                                f"{_DEVICES_PER_ACCOUNT}")
        account.setdefault("mfa", {})[serial] = {
            "name": name, "path": path, "seed": seed, "user": None, "enabled": None,
            "created": iso(now), "tags": stored_tags(tags)}

    call.change(edit)
    label = call.caller.user_name or call.account_id
    uri = (f"otpauth://totp/{quote(name, safe='')}@{quote(label, safe='')}"
           f"?secret={seed}")
    body: Struct = {"SerialNumber": serial, "Base32StringSeed": seed.encode("ascii"),
                    "QRCodePNG": otpauth_png(uri)}
    if tags:
        body["Tags"] = [{"Key": k, "Value": v} for k, v in tags]
    return {"VirtualMFADevice": body}


def enable_mfa_device(call: Call) -> Struct | None:
    user_name = call.params.required("UserName", "existingUserNameType")
    serial = call.params.required("SerialNumber", "serialNumberType")
    first = call.params.required("AuthenticationCode1", "authenticationCodeType")
    second = call.params.required("AuthenticationCode2", "authenticationCodeType")
    call.authorize(call.user_arn(user_name))
    account = call.account()
    existing_user(account, user_name)
    device = _find(account, serial)
    if device.user_name is not None:
        raise EntityAlreadyExists("MFA Device is already in use.",
                                  detail=f"{serial} is assigned to {device.user_name}")
    if not call.mfa.consecutive(device.seed, first, second):
        raise InvalidAuthenticationCode(
            detail=f"{first} and {second} are not two consecutive current codes of {serial}")
    now = call.now

    def edit(doc: dict[str, Any], state: AccountState) -> None:
        user = existing_user(state, user_name)
        current = _find(state, serial)
        if current.user_name is not None:
            raise EntityAlreadyExists("MFA Device is already in use.")
        if len(state.mfa_of(user.name)) >= DEVICES_PER_USER:
            raise LimitExceeded(f"Cannot exceed quota for MFADevicesPerUser: "
                                f"{DEVICES_PER_USER}")
        doc["mfa"][_stored_key(doc, current)].update(user=user.name, enabled=iso(now))

    call.change(edit)
    return None


def list_mfa_devices(call: Call) -> Struct | None:
    name = call.user_name(call.params.optional("UserName", "existingUserNameType"))
    marker, items = call.params.paging()
    call.authorize(call.user_arn(name))
    account = call.account()
    user = existing_user(account, name)
    return page(account.mfa_of(user.name), lambda d: d.serial, marker, items,
                lambda d: {"UserName": user.name, "SerialNumber": d.serial,
                           "EnableDate": d.enabled}, "MFADevices")


def list_virtual_mfa_devices(call: Call) -> Struct | None:
    status = call.params.optional("AssignmentStatus", "assignmentStatusType") or "Any"
    marker, items = call.params.paging()
    call.authorize(call.arn("mfa", "/", ""))
    account = call.account()

    def wanted(device: MfaDevice) -> bool:
        assigned = device.user_name is not None and device.enabled is not None
        return status == "Any" or assigned == (status == "Assigned")

    def entry(device: MfaDevice) -> Struct:
        body: Struct = {"SerialNumber": device.serial}
        user = account.user(device.user_name) if device.user_name is not None else None
        if user is not None and device.enabled is not None:
            body["User"] = user_struct(user)
            body["EnableDate"] = device.enabled
        return body

    devices = [d for d in account.mfa_devices.values() if wanted(d)]
    return page(devices, lambda d: d.serial, marker, items, entry, "VirtualMFADevices")


def deactivate_mfa_device(call: Call) -> Struct | None:
    name = call.user_name(call.params.optional("UserName", "existingUserNameType"))
    serial = call.params.required("SerialNumber", "serialNumberType")
    call.authorize(call.user_arn(name))

    def edit(doc: dict[str, Any], state: AccountState) -> None:
        user = existing_user(state, name)
        device = state.mfa_devices.get(serial)
        if device is None or device.user_name is None or \
                device.user_name.lower() != user.name.lower():
            raise NoSuchEntity(f"MFA Device with serial number {serial} does not exist.")
        doc["mfa"][_stored_key(doc, device)].update(user=None, enabled=None)

    call.change(edit)
    return None


def delete_virtual_mfa_device(call: Call) -> Struct | None:
    serial = call.params.required("SerialNumber", "serialNumberType")
    call.authorize(serial)

    def edit(doc: dict[str, Any], state: AccountState) -> None:
        device = _find(state, serial)
        if device.user_name is not None:
            raise DeleteConflict("MFA Device is in use; deactivate it first.",
                                 detail=f"{serial} is assigned to {device.user_name}")
        del doc["mfa"][_stored_key(doc, device)]

    call.change(edit)
    return None


OPERATIONS: Final[dict[str, Operation]] = {
    "CreateVirtualMFADevice": create_virtual_mfa_device,
    "EnableMFADevice": enable_mfa_device,
    "ListMFADevices": list_mfa_devices,
    "ListVirtualMFADevices": list_virtual_mfa_devices,
    "DeactivateMFADevice": deactivate_mfa_device,
    "DeleteVirtualMFADevice": delete_virtual_mfa_device,
}
