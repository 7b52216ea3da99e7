"""``wm keygen``: create an owner key file."""

from __future__ import annotations

import json

import click


@click.command("keygen", help="Create an owner key file (a secret seed and the message bits).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Key file to write.")
@click.option("--bits", type=int, default=64, show_default=True, help="Message length k, a multiple of 8.")
@click.option("--message", default=None, help="Message as hex (k/4 digits); random if omitted.")
@click.option("--logo", type=click.Path(dir_okay=False), default=None,
              help="Make the message from this logo image (8×8 for 64 bits, black and white): `wm verify "
                   "--logo-out` then shows the logo it reads (the seed paper's logo mode).")
@click.option("--scheme", type=click.Choice(["deep", "spectral"]), default="deep", show_default=True,
              help="How the bits enter images: the learned networks, or the training-free spectral filter that "
                   "survives crops and that models trained on marked images can learn (see the README).")
@click.option("--force", is_flag=True, help="Overwrite an existing key file.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def command(output: str, bits: int, message: str | None, logo: str | None, scheme: str, force: bool,
            as_json: bool) -> None:
    from wm_plugin.errors import KeyFileError
    from wm_plugin.keys import generate_key, save_key

    if message is not None and logo is not None:
        raise click.UsageError("give --message or --logo, not both")
    try:
        payload = bytes.fromhex(message) if message is not None else None
    except ValueError:
        raise KeyFileError(f"--message must be hexadecimal, got {message!r}") from None
    if logo is not None:
        from wm_plugin.logo import logo_message

        payload = logo_message(logo, bits)
    key = generate_key(bits, message=payload, scheme=scheme)
    if scheme == "spectral":
        from wm_plugin.spectral import SpectralLayout

        SpectralLayout.from_seed(key.seed, bits)  # a clear error now if the band cannot hold this many bits
    save_key(key, output, force=force)
    if as_json:
        click.echo(json.dumps({"key": output, "bits": key.bits, "scheme": key.scheme, "fingerprint": key.fingerprint}))
    else:
        click.echo(f"wrote {output}: {key.bits}-bit {key.scheme} key, fingerprint {key.fingerprint} "
                   "(keep this file secret)")
