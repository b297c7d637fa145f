from meshgate.cli.main import main

raise SystemExit(main())
