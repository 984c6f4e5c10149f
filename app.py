"""Landscape Explorer: the entry point (`streamlit run app.py`). It names the pages and runs the
one the URL asks for; the home page is ``pages/0_Home.py``."""
import streamlit as st

PAGES = [("pages/0_Home.py", "Home", ""), ("pages/1_Minima.py", "Minima", "Minima"),
         ("pages/2_Paths_and_barriers.py", "Paths and barriers", "Paths_and_barriers"),
         ("pages/3_Star.py", "Star", "Star"), ("pages/4_Loss_slices.py", "Loss slices", "Loss_slices"),
         ("pages/5_Geodesic_vs_width.py", "Geodesic vs width", "Geodesic_vs_width"),
         ("pages/6_Theory.py", "Theory", "Theory"),
         ("pages/7_Paper_reproduction.py", "Paper reproduction", "Paper_reproduction")]

st.navigation([st.Page(path, title=title, url_path=url or None, default=not url)
               for path, title, url in PAGES]).run()
