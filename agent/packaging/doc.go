// Package packaging holds the agent's installation files (systemd unit,
// install.sh, the release and .deb builders, nfpm configuration, maintainer
// scripts) and the tests that check them with the tools that consume them:
// curl and bash for the piped install, dpkg-deb, lintian and systemd-analyze
// for the package. It has no Go code of its own.
package packaging
