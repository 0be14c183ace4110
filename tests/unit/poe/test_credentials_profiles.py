import pytest
from ansible_collections.infoscreen.fleet.plugins.module_utils import poe_snmp
from ansible_collections.infoscreen.fleet.plugins.module_utils.poe_profiles import get_profile
from pysnmp.proto import rfc1902


def test_v2c_needs_a_community():
    with pytest.raises(ValueError, match="snmp_community is required"):
        poe_snmp.SnmpCredentials("2c")


def test_v3_names_every_missing_credential():
    with pytest.raises(ValueError, match="snmp_v3_auth_key, snmp_v3_priv_key"):
        poe_snmp.SnmpCredentials("3", user="ops")


def test_v3_rejects_short_keys_and_unknown_protocols():
    with pytest.raises(ValueError, match="snmp_v3_priv_key must be at least 8"):
        poe_snmp.SnmpCredentials("3", user="ops", auth_key="long-enough", priv_key="short")
    with pytest.raises(ValueError, match="snmp_v3_auth_protocol must be one of"):
        poe_snmp.SnmpCredentials("3", user="ops", auth_key="long-enough", priv_key="long-enough", auth_protocol="rot13")


def test_unknown_version_is_refused():
    with pytest.raises(ValueError, match="snmp_version must be"):
        poe_snmp.SnmpCredentials("1", community="public")


def test_describe_never_shows_secrets():
    v2 = poe_snmp.SnmpCredentials("2c", community="s3cret-community")
    v3 = poe_snmp.SnmpCredentials("3", user="ops", auth_key="auth-s3cret", priv_key="priv-s3cret")
    assert "s3cret" not in v2.describe()
    assert "s3cret" not in v3.describe() and "ops" in v3.describe()


def test_v3_auth_data_uses_the_chosen_protocols():
    creds = poe_snmp.SnmpCredentials("3", user="ops", auth_key="auth-secret", priv_key="priv-secret",
                                     auth_protocol="sha256", priv_protocol="aes256")
    data = creds.auth_data()
    assert data.authentication_protocol == poe_snmp.hlapi.usmHMAC192SHA256AuthProtocol
    assert data.privacy_protocol == poe_snmp.hlapi.usmAesCfb256Protocol


@pytest.mark.parametrize(("name", "oid", "on", "off"), [
    ("standard", "1.3.6.1.2.1.105.1.1.1.3.2.7", 1, 2),
    ("cisco", "1.3.6.1.4.1.9.9.402.1.2.1.1.2.7", 1, 4),
])
def test_profiles_write_the_right_object_and_values(name, oid, on, off):
    profile = get_profile(name)
    assert profile.admin_instance(2, 7) == oid
    assert (profile.on_value, profile.off_value) == (on, off)
    assert profile.is_on(on) and not profile.is_on(off)


def test_cisco_static_and_limit_count_as_on():
    cisco = get_profile("cisco")
    assert cisco.is_on(2) and cisco.is_on(3)


def test_unknown_profile_lists_the_choices():
    with pytest.raises(ValueError, match="cisco, standard"):
        get_profile("juniper")


def test_as_integer_names_the_object_when_the_type_is_wrong():
    with pytest.raises(poe_snmp.SnmpWrongType, match=r"OctetString .*pethPsePortAdminEnable.*expected INTEGER"):
        poe_snmp.as_integer("pethPsePortAdminEnable", "1.3.6.1.2.1.105.1.1.1.3.1.1", rfc1902.OctetString("true"),
                            "sw1:161")
    assert poe_snmp.as_integer("x", "1.2", rfc1902.Integer32(3), "sw1:161") == 3
