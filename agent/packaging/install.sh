#!/bin/sh
# install.sh: install monsys-agent with its hardened systemd unit.
#
#   sudo ./install.sh --hub-url https://hub.example.com --token-file token.txt \
#        --ca ca.pem --enroll-cert enroll.pem --enroll-key enroll.key [--binary ./monsys-agent]
#
# Options:
#   --hub-url URL        hub base URL (required)
#   --token-file FILE    file holding the agent token "ms_..." (or --token TOKEN)
#   --ca FILE            CA certificate that verifies the hub (required)
#   --enroll-cert FILE   tenant enrollment certificate (required)
#   --enroll-key FILE    its private key (required)
#   --binary FILE        the monsys-agent binary (default: ./monsys-agent next to this script)
#   --root DIR           install under DIR instead of / (packaging, tests); no user, no systemctl
#   --no-start           install and enable, but do not start
#
# Files: /usr/bin/monsys-agent; /etc/monsys/{agent.json,token,ca.pem,enroll.pem,enroll.key}
# (root:monsys, secrets 0640); /etc/systemd/system/monsys-agent.service.
# The state directory /var/lib/monsys (0700, user monsys) is made by systemd.
set -eu

die() { echo "install.sh: $*" >&2; exit 1; }

here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
hub_url= token= token_file= ca= enroll_cert= enroll_key= root= start=yes
binary="$here/monsys-agent"
while [ $# -gt 0 ]; do
	case "$1" in
	--hub-url) hub_url=$2; shift 2 ;;
	--token) token=$2; shift 2 ;;
	--token-file) token_file=$2; shift 2 ;;
	--ca) ca=$2; shift 2 ;;
	--enroll-cert) enroll_cert=$2; shift 2 ;;
	--enroll-key) enroll_key=$2; shift 2 ;;
	--binary) binary=$2; shift 2 ;;
	--root) root=$2; shift 2 ;;
	--no-start) start=no; shift ;;
	-h|--help) sed -n '2,22p' "$0"; exit 0 ;;
	*) die "unknown option $1 (see --help)" ;;
	esac
done

[ -n "$hub_url" ] || die "--hub-url is required"
case "$hub_url" in https://*) ;; *) die "--hub-url must start with https://" ;; esac
[ -n "$token" ] || [ -n "$token_file" ] || die "--token-file (or --token) is required"
[ -z "$token_file" ] || token=$(cat "$token_file")
case "$token" in ms_*) ;; *) die "the agent token must start with ms_" ;; esac
for f in "$ca" "$enroll_cert" "$enroll_key" "$binary"; do
	[ -n "$f" ] && [ -r "$f" ] || die "missing or unreadable file: '${f}' (need --ca, --enroll-cert, --enroll-key, --binary)"
done
[ -n "$root" ] || [ "$(id -u)" -eq 0 ] || die "run as root (or use --root DIR)"

group=root
if [ -z "$root" ]; then
	if ! getent passwd monsys >/dev/null 2>&1; then
		useradd --system --home-dir /var/lib/monsys --no-create-home \
			--shell /usr/sbin/nologin --user-group monsys
	fi
	group=monsys
fi

etc="$root/etc/monsys"
umask 077
install -d -m 0755 "$root/usr/bin" "$root/etc/systemd/system"
install -d -m 0750 "$etc"
install -m 0755 "$binary" "$root/usr/bin/monsys-agent"
install -m 0644 "$ca" "$etc/ca.pem"
install -m 0644 "$enroll_cert" "$etc/enroll.pem"
install -m 0640 "$enroll_key" "$etc/enroll.key"
printf '%s\n' "$token" > "$etc/token.new" && chmod 0640 "$etc/token.new" && mv "$etc/token.new" "$etc/token"
if [ ! -e "$etc/agent.json" ]; then
	cat > "$etc/agent.json.new" <<JSON
{
  "hub_url": "$hub_url",
  "token_file": "/etc/monsys/token",
  "ca_cert": "/etc/monsys/ca.pem",
  "enroll_cert": "/etc/monsys/enroll.pem",
  "enroll_key": "/etc/monsys/enroll.key",
  "state_dir": "/var/lib/monsys"
}
JSON
	chmod 0640 "$etc/agent.json.new" && mv "$etc/agent.json.new" "$etc/agent.json"
fi
chown -R "root:$group" "$etc" 2>/dev/null || [ -n "$root" ]
install -m 0644 "$here/monsys-agent.service" "$root/etc/systemd/system/monsys-agent.service"

if [ -z "$root" ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload
	if [ "$start" = yes ]; then
		systemctl enable --now monsys-agent
		echo "monsys-agent installed and started; check with: sudo -u monsys monsys-agent status --config /etc/monsys/agent.json"
	else
		systemctl enable monsys-agent
		echo "monsys-agent installed and enabled; start with: systemctl start monsys-agent"
	fi
else
	echo "monsys-agent installed under ${root:-/}"
fi
