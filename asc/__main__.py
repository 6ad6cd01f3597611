def main():
    from asc.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
