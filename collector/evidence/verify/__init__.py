"""The evidence pack's offline verifier: standard library and ``cryptography`` only.

The whole folder is copied into every pack as ``verify/``, so an evaluator checks a pack with
nothing but Python and ``cryptography``, from the pack's root folder::

    python -B -m verify . [--trusted-key PUB.pem]

Inside the collector it is ``collector.evidence.verify``, and the pack builder computes every
figure with these same modules, so a figure in the pack and its recomputation cannot drift apart.
Modules here import only each other (relative imports), the standard library and ``cryptography``;
``vendor/`` holds byte-for-byte copies of the two collector modules the verifier needs (see its
``__init__``). Nothing is imported here, so ``__main__`` can switch bytecode writing off first.
"""
