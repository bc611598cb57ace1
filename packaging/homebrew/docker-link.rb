# Homebrew formula for docker-link (Linux: the binary is a static Linux executable, and the
# same file runs inside containers as their init).
#
# packaging/tarball.sh renders this template into dist/docker-link.rb with the release's
# version and the tarball's sha256 filled in; that file goes into the tap.
class DockerLink < Formula
  desc "Docker CLI plugin: container names and links, proxy, networks and init"
  homepage "https://github.com/docker-link/docker-link"
  url "https://github.com/docker-link/docker-link/releases/download/v@VERSION@/docker-link-@VERSION@-linux-@ARCH@.tar.gz"
  version "@VERSION@"
  sha256 "@SHA256@"
  license "Apache-2.0"

  depends_on :linux

  def install
    plugins = lib/"docker/cli-plugins"
    plugins.install "docker-link"
    %w[ls proxy net init].each do |name|
      (plugins/"docker-#{name}").make_symlink("docker-link")
    end
    bash_completion.install "completions/docker-link.bash" => "docker-link"
    zsh_completion.install "completions/_docker-link"
    fish_completion.install "completions/docker-link.fish"
    man1.install Dir["man/*.1"]
  end

  def caveats
    <<~EOS
      The docker CLI only finds plugins in its own directories. Add Homebrew's
      to "cliPluginsExtraDirs" in ~/.docker/config.json:
        "cliPluginsExtraDirs": [
            "#{HOMEBREW_PREFIX}/lib/docker/cli-plugins"
        ]
      Then `docker link doctor` checks the installation.
    EOS
  end

  test do
    plugins = lib/"docker/cli-plugins"
    assert_match '"Vendor":"docker-link"', shell_output("#{plugins}/docker-link docker-cli-plugin-metadata")
    assert_match "List container names", shell_output("#{plugins}/docker-ls docker-cli-plugin-metadata")
  end
end
